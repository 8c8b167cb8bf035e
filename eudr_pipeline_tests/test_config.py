import pytest

from eudr_pipeline.config import Settings
from eudr_pipeline.errors import SettingsError


def test_env_overrides_every_type(tmp_path):
    s = Settings.from_env({"EUDR_DATA_DIR": str(tmp_path), "EUDR_CANOPY_THRESHOLD": "30",
                           "EUDR_RISK_HIGH_LOSS_HA": "2.5", "EUDR_RISK_MEDIUM_IF_PROHIBITED_PROTECTED_AREA": "false"})
    assert s.data_dir == tmp_path and s.canopy_threshold == 30
    opts = s.analysis_options()
    assert opts.canopy_threshold == 30 and opts.risk_rule.high_loss_ha == 2.5
    assert opts.risk_rule.medium_if_prohibited_protected_area is False
    assert Settings.from_env({}) == Settings()


def test_bad_value_names_the_variable():
    with pytest.raises(SettingsError, match="EUDR_CANOPY_THRESHOLD='ten' is not a valid int"):
        Settings.from_env({"EUDR_CANOPY_THRESHOLD": "ten"})
