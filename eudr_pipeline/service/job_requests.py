"""The make_job validation (api.md): a request body that pydantic has parsed
(``schemas.MakeJobRequest``) checked against the user's plots and the check types,
every problem listed with its location, and the normalised job it describes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eudr_pipeline.core.analysis import CHECK_TYPES
from eudr_pipeline.core.intake import CONFIG_KEYS, check_commodity, effective_config, parse_date
from eudr_pipeline.errors import IntakeError, RequestInvalid, shown
from eudr_pipeline.service.limits import MAX_NOTES_CHARS, json_problems, text_problems
from eudr_pipeline.service.plots import PlotStore
from eudr_pipeline.service.schemas import CheckIn, MakeJobRequest

MAX_PLOTS_PER_JOB = 10_000
MAX_PLOT_ID_CHARS = 128  # the plot ids this service issues are 36-character UUIDs


@dataclass
class JobRequest:
    """A valid make_job request: the plots (the user's rows, by id, in request order) and
    its checks [{type, config, per_plot}]."""

    job_name: str | None
    notes: str | None
    additional_info: dict[str, str]
    plot_ids: list[str]
    checks: list[dict[str, Any]]
    plots: dict[str, dict[str, Any]]
    _plot_checks: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False, compare=False)

    def plot_checks(self, plot_id: str) -> list[dict[str, Any]]:
        """The checks of one plot with their effective config [{type, config}] (computed
        once: the validation and the stored job plot both read them)."""
        found = self._plot_checks.get(plot_id)
        if found is None:
            found = self._plot_checks[plot_id] = [{"type": c["type"], "config": plot_config(c, self.plots[plot_id])}
                                                  for c in self.checks]
        return found


def plot_config(check: dict[str, Any], plot: dict[str, Any]) -> dict[str, Any]:
    """harvest_date and commodity for one plot and check: per_plot > config > the plot."""
    registered = {"harvest_date": max(plot["harvest_dates"]) if plot.get("harvest_dates") else None,  # the latest
                  "commodity": plot.get("commodity")}  # (stored sorted by plots.py from registered_harvest_dates)
    return effective_config(registered, check.get("config"), (check.get("per_plot") or {}).get(plot["plot_id"]))


def _config_errors(cfg: dict[str, str] | None, loc: list) -> list[dict]:
    errors = []
    for k, v in (cfg or {}).items():
        try:
            if k == "harvest_date":
                parse_date(v, "harvest_date")
            elif k == "commodity":
                check_commodity(v, "config")
            else:
                errors.append({"loc": loc + [k], "msg": f"unknown config key {shown(k)} (expected {', '.join(CONFIG_KEYS)})"})
        except IntakeError as exc:
            errors.append({"loc": loc + [k], "msg": str(exc)})
    return errors


def _plot_id_errors(ids: list[str], owned: dict[str, dict]) -> list[dict]:
    if not ids:
        return [{"loc": ["body", "plot_ids"], "msg": f"plot_ids is required: a list of 1 to {MAX_PLOTS_PER_JOB} plot ids"}]
    errors, seen = [], set()
    for k, pid in enumerate(ids):
        if pid in seen:
            errors.append({"loc": ["body", "plot_ids", k], "msg": f"duplicate plot id {pid}"})
        elif pid not in owned:
            errors.append({"loc": ["body", "plot_ids", k], "msg": f"unknown plot id {pid}"})
        seen.add(pid)
    return errors


def _check_errors(c_i: int, check: CheckIn, plot_ids: set[str]) -> list[dict]:
    loc = ["body", "checks", c_i]
    errors = []
    if check.type not in CHECK_TYPES:
        errors.append({"loc": loc + ["type"], "msg": f"unknown check type {shown(check.type)} (expected {', '.join(CHECK_TYPES)})"})
    errors += _config_errors(check.config, loc + ["config"])
    for pid, cfg in (check.per_plot or {}).items():
        if pid not in plot_ids:
            errors.append({"loc": loc + ["per_plot", pid], "msg": f"per_plot names plot {shown(pid)}, which is not in plot_ids"})
        errors += _config_errors(cfg, loc + ["per_plot", pid])
    return errors


def _commodity_errors(request: JobRequest) -> list[dict]:
    return [{"loc": ["body", "plot_ids", k],
             "msg": f"plot {pid} has no commodity for the eudr check: set it on the plot, in the check's config or in per_plot"}
            for k, pid in enumerate(request.plot_ids) for c in request.plot_checks(pid)
            if c["type"] == "eudr" and c["config"]["commodity"] is None]


def _text_errors(body: MakeJobRequest) -> list[dict]:
    """Texts over their limits or not valid UTF-8 (service/limits.py), before any lookup."""
    errors = text_problems(body.job_name, ["body", "job_name"], "job")
    errors += text_problems(body.notes, ["body", "notes"], "job", MAX_NOTES_CHARS)
    errors += json_problems(body.additional_info or {}, ["body", "additional_info"], "job")
    for k, pid in enumerate(body.plot_ids):
        errors += text_problems(pid, ["body", "plot_ids", k], "job", MAX_PLOT_ID_CHARS)
    for c_i, c in enumerate(body.checks or []):
        errors += json_problems(c.model_dump(), ["body", "checks", c_i], "job")
    return errors


def validate_job_request(body: MakeJobRequest, username: str, plot_store: PlotStore) -> JobRequest:
    """The job ``body`` describes, or RequestInvalid listing every problem."""
    text = _text_errors(body)
    if text:
        raise RequestInvalid(text, f"{len(text)} problem(s) in the job request; nothing was stored")
    owned = plot_store.get_many(username, list(dict.fromkeys(body.plot_ids)))
    errors = _plot_id_errors(body.plot_ids, owned)
    checks = body.checks or [CheckIn(type="eudr")]
    for c_i, c in enumerate(checks):
        errors += _check_errors(c_i, c, set(body.plot_ids))
    types = [c.type for c in checks]
    if len(set(types)) != len(types):
        errors.append({"loc": ["body", "checks"], "msg": "each check type may appear once"})
    request = JobRequest(body.job_name, body.notes, body.additional_info or {}, body.plot_ids,
                         [{"type": c.type, "config": c.config or {}, "per_plot": c.per_plot or {}} for c in checks], owned)
    errors = errors or _commodity_errors(request)
    if errors:
        raise RequestInvalid(errors, f"{len(errors)} problem(s) in the job request; nothing was stored")
    return request
