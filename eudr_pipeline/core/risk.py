"""The risk rule (analysis.md section 5): thresholds configurable, echoed in the reason."""

from __future__ import annotations

from dataclasses import dataclass

CUTOFF_DATE = "2020-12-31"


@dataclass(frozen=True)
class RiskRule:
    """Thresholds of the default rule. Loss is JRC-forest loss after the cut-off (ha);
    percentages are of the plot area.

    High:   loss >= high_loss_ha or loss % > high_loss_pct
    Medium: loss % > medium_loss_pct or loss >= medium_loss_ha, or the plot overlaps a
            protected area where extractive activity is "prohibited"
    Low:    otherwise
    """

    high_loss_ha: float = 1.0
    high_loss_pct: float = 15.0
    medium_loss_ha: float = 0.5
    medium_loss_pct: float = 10.0
    medium_if_prohibited_protected_area: bool = True

    def describe(self) -> str:
        """The rule in one line, as echoed in every risk_reason."""
        prot = "; or overlap with a protected area where extraction is prohibited" if self.medium_if_prohibited_protected_area else ""
        return (
            f"rule: High if loss >= {self.high_loss_ha:g} ha or > {self.high_loss_pct:g} % of plot; "
            f"Medium if loss >= {self.medium_loss_ha:g} ha or > {self.medium_loss_pct:g} %{prot}"
        )


def assess_risk(
    loss_ha: float,
    loss_pct: float,
    prohibited_areas: list[str],
    rule: RiskRule = RiskRule(),
) -> tuple[str, str]:
    """(risk_level, risk_reason) from the JRC-forest loss after the cut-off (ha and % of
    plot) and the names of overlapping protected areas whose legality is "prohibited"."""
    fact = f"{loss_ha:.2f} ha of 2020 forest lost after {CUTOFF_DATE} ({loss_pct:.1f} % of plot)"
    if loss_ha >= rule.high_loss_ha or loss_pct > rule.high_loss_pct:
        return "High", f"High: {fact}; {rule.describe()}"
    reasons = []
    if loss_pct > rule.medium_loss_pct or loss_ha >= rule.medium_loss_ha:
        reasons.append(fact)
    if rule.medium_if_prohibited_protected_area and prohibited_areas:
        names = ", ".join(sorted(set(prohibited_areas)))
        reasons.append(f"overlaps protected area where extraction is prohibited: {names}")
    if reasons:
        return "Medium", f"Medium: {'; '.join(reasons)}; {rule.describe()}"
    return "Low", f"Low: {fact}, no prohibited protected area; {rule.describe()}"


# ---------------------------------------------------------------- commodity-aware rules

MORE_INFO = "More information needed"
OUTCOMES = ("Low", "High", MORE_INFO)
OUTCOME_LEVEL = {"Low": "Low", "High": "High", MORE_INFO: "Medium"}  # onto the seed's risk_level enum


@dataclass(frozen=True)
class Measure:
    """One number of a plot's analysis (by name) and its threshold: reached when its area
    is >= ``min_ha`` (ha) or its share of the plot >= ``min_pct`` (%)."""

    name: str
    min_ha: float | None = None
    min_pct: float | None = None

    def reached(self, ha: float, plot_ha: float) -> bool:
        pct = 100.0 * ha / plot_ha if plot_ha > 0 else 0.0
        return (self.min_ha is not None and ha >= self.min_ha) or (self.min_pct is not None and pct >= self.min_pct)

    def describe(self) -> str:
        parts = [f">= {self.min_ha:g} ha" if self.min_ha is not None else "",
                 f">= {self.min_pct:g} %" if self.min_pct is not None else ""]
        return f"{self.name} {' or '.join(p for p in parts if p)}"


@dataclass(frozen=True)
class Signal:
    """A named fact about a plot: true when any of its measures is reached."""

    name: str
    description: str
    measures: tuple[Measure, ...]


@dataclass(frozen=True)
class Step:
    """A decision step: when ``signal`` holds (or, with ``negate``, does not), ``outcome``."""

    signal: str
    negate: bool
    outcome: str


@dataclass(frozen=True)
class CommodityGroup:
    name: str
    title: str
    commodities: tuple[str, ...]
    steps: tuple[Step, ...]
    default: str


@dataclass(frozen=True)
class CommodityRules:
    """Decision trees per commodity group (data/risk_rules.toml). A plot whose commodity is
    in no group keeps the default rule (RiskRule)."""

    signals: dict[str, Signal]
    groups: tuple[CommodityGroup, ...]

    def group_of(self, commodity: str | None) -> CommodityGroup | None:
        return next((g for g in self.groups if commodity in g.commodities), None)


def _signal_state(sig: Signal, measures: dict[str, float | None], plot_ha: float) -> tuple[bool | None, str]:
    """(True, False or None when no measure of the signal has data; the evidence in words)."""
    present = [(m, float(measures[m.name])) for m in sig.measures if measures.get(m.name) is not None]
    if not present:
        return None, f"{sig.description}: unknown (no data for {', '.join(m.name for m in sig.measures)})"
    for m, ha in present:
        if m.reached(ha, plot_ha):
            return True, f"{sig.description}: {m.name} {ha:.2f} ha ({m.describe()})"
    return False, f"no {sig.description} ({'; '.join(f'{m.name} {ha:.2f} ha, below {m.describe()}' for m, ha in present)})"


def assess_commodity_risk(rules: CommodityRules, group: CommodityGroup, commodity: str,
                          measures: dict[str, float | None], plot_ha: float) -> tuple[str, str, dict]:
    """(risk_level, risk_reason, risk_assessment) of a plot by its commodity group's steps.
    ``measures``: the plot's numbers by name (ha; None: no data). A step on an unknown
    signal never decides; the reason lists every signal looked at, in order."""
    evidence, states = [], {}
    outcome, decided_by = group.default, "default"
    for step in group.steps:
        state, text = _signal_state(rules.signals[step.signal], measures, plot_ha)
        states[step.signal] = state
        evidence.append(text)
        if state is not None and state != step.negate:
            outcome, decided_by = step.outcome, f"{'unless' if step.negate else 'if'} {step.signal}"
            break
    level = OUTCOME_LEVEL[outcome]
    shown = outcome if outcome == level else f"{outcome} (risk_level {level})"
    reason = f"{shown}, {group.title} ({commodity}): {'; '.join(evidence)}; decided by {decided_by}"
    return level, reason, {"rule_set": "commodity", "group": group.name, "outcome": outcome,
                           "decided_by": decided_by, "signals": states}


def commodity_rules_from(data: dict) -> CommodityRules:
    """CommodityRules from the mapping of data/risk_rules.toml; ValueError naming the
    entry that is wrong."""
    signals = {name: Signal(name, s.get("description", name),
                            tuple(Measure(m["name"], m.get("min_ha"), m.get("min_pct")) for m in s["measures"]))
               for name, s in data.get("signals", {}).items()}
    groups = []
    for name, g in data.get("groups", {}).items():
        steps = []
        for k, st in enumerate(g.get("steps", [])):
            signal = st.get("if") or st.get("unless")
            if signal not in signals or st.get("outcome") not in OUTCOMES:
                raise ValueError(f"risk rules: groups.{name}.steps[{k}]: needs if/unless naming a signal "
                                 f"({', '.join(signals)}) and an outcome ({', '.join(OUTCOMES)})")
            steps.append(Step(signal, "unless" in st, st["outcome"]))
        if g.get("default") not in OUTCOMES:
            raise ValueError(f"risk rules: groups.{name}.default must be one of {', '.join(OUTCOMES)}")
        groups.append(CommodityGroup(name, g.get("title", name), tuple(g.get("commodities", [])), tuple(steps), g["default"]))
    return CommodityRules(signals, tuple(groups))
