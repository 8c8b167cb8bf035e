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
