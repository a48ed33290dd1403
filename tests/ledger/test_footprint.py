"""Own-footprint arithmetic: grid factors from grid_factors.csv, the fallback power model, net benefit."""

from __future__ import annotations

import inspect
from importlib import resources

import pandas as pd
import pytest

from coreduce import footprint as fp
from coreduce.errors import FactorError


def _csv() -> pd.DataFrame:
    with resources.files("coreduce.account").joinpath("data/grid_factors.csv").open("rb") as fh:
        return pd.read_csv(fh)


def _value(factor_id: str) -> float:
    t = _csv()
    return float(t.loc[t.factor_id == factor_id, "value"].iloc[0])


def test_hebei_2022_provincial_factor_hand_calculation() -> None:
    # grid_factors.csv: cn_mee_2022_Hebei = 0.7252 kg/kWh (MEE & NBS 2022 factors)
    assert _value("cn_mee_2022_Hebei") == 0.7252
    f = fp.footprint_from_energy(2.5, province="Hebei")
    # 2.5 kWh x 0.7252 kg/kWh = 1.813 kg CO2
    assert f.emissions_kg == pytest.approx(1.813, rel=1e-12)
    assert (f.grid_factor_id, f.grid_factor_value_kg_per_kwh, f.energy_kwh) == ("cn_mee_2022_Hebei", 0.7252, 2.5)


def test_beijing_uses_its_own_row_tibet_its_regional_grid() -> None:
    # grid_factors.csv: cn_mee_2022_Beijing = 0.5580 kg/kWh (CN-BJ, the province's own 2022 factor)
    assert _value("cn_mee_2022_Beijing") == 0.5580
    f = fp.footprint_from_energy(2.5, province="beijing")
    # 2.5 kWh x 0.5580 kg/kWh = 1.395 kg CO2
    assert (f.grid_factor_id, f.emissions_kg) == ("cn_mee_2022_Beijing", pytest.approx(1.395, rel=1e-12))
    # Tibet (CN-XZ) has no 2022 factor of its own: its regional grid (regions.csv: CN-GRID-SOUTHWEST), 0.2268 kg/kWh
    assert _value("cn_mee_2022_grid_Southwest") == 0.2268
    g = fp.footprint_from_energy(2.5, province="Tibet")
    # 2.5 kWh x 0.2268 kg/kWh = 0.567 kg CO2
    assert (g.grid_factor_id, g.emissions_kg) == ("cn_mee_2022_grid_Southwest", pytest.approx(0.567, rel=1e-12))


def test_national_fallback_and_explicit_factor() -> None:
    # national MEE 2022: 2.5 kWh x 0.5366 kg/kWh = 1.3415 kg
    f = fp.footprint_from_energy(2.0, 0.5, province=None)
    assert f.grid_factor_id == "cn_mee_2022_national"
    assert f.emissions_kg == pytest.approx(1.3415, rel=1e-12)
    # carbon-market factor is given in t/MWh: 0.5703 t/MWh = 0.5703 kg/kWh
    g = fp.grid_factor(factor_id="cn_carbon_market_2022")
    assert g.value_kg_per_kwh == pytest.approx(0.5703, rel=1e-12) and g.level == "explicit"
    assert fp.grid_factor("Inner Mongolia").factor_id == "cn_mee_2022_InnerMongolia"
    assert fp.grid_factor("Chongqing").factor_id == "cn_mee_2022_Chongqing"
    # 2023: no provincial factors published (yet), Hebei falls back to the North grid's 0.6361 kg/kWh
    assert fp.grid_factor("Hebei", year=2023).factor_id == "cn_mee_2023_grid_North"


def test_province_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREDUCE_PROVINCE", "Yunnan")
    assert fp.grid_factor().factor_id == "cn_mee_2022_Yunnan"


def test_bad_factor_choices_raise() -> None:
    with pytest.raises(FactorError, match="unknown province 'Atlantis'"):
        fp.grid_factor("Atlantis")
    with pytest.raises(FactorError, match="no factor_id"):
        fp.grid_factor(factor_id="nope")
    with pytest.raises(FactorError, match="purpose 'heat'"):
        fp.grid_factor(factor_id="cn_heat_default")


class _Seq:
    """A fake clock returning the given readings in turn."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0)


def test_fallback_power_model_exact() -> None:
    meter = fp.FootprintMeter(
        "Hebei", mode="fallback", clock=_Seq(100.0, 190.0), cpu_time=_Seq(10.0, 46.0),
        ram_gb=lambda: 2.0, gpu_kwh=_Seq(0.001, 0.003),
    )  # fmt: skip
    meter.start()
    f = meter.stop()
    # CPU: 36 s x 4 W = 144 J = 144 / 3.6e6 kWh = 4.0e-5 kWh
    # RAM: 90 s x 2 GB x 0.375 W/GB = 67.5 J = 1.875e-5 kWh
    # GPU: 0.003 - 0.001 = 0.002 kWh ; total 0.00205875 kWh
    # emissions: 0.00205875 kWh x 0.7252 kg/kWh = 0.0014930055 kg
    assert f.method == "fallback-power-model" and f.duration_s == 90.0
    assert f.cpu_kwh == pytest.approx(4.0e-5, rel=1e-12)
    assert f.ram_kwh == pytest.approx(1.875e-5, rel=1e-12)
    assert f.gpu_kwh == pytest.approx(0.002, rel=1e-12)
    assert f.energy_kwh == pytest.approx(0.00205875, rel=1e-12)
    assert f.emissions_kg == pytest.approx(0.0014930055, rel=1e-12)


def test_measure_context_and_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    with fp.measure("Sichuan", clock=_Seq(0.0, 3600.0), cpu_time=_Seq(0.0, 3600.0), ram_gb=lambda: 0.0,
                    gpu_kwh=lambda: 0.0) as m:  # fmt: skip
        pass
    # one busy thread for one hour: 4 W x 1 h = 0.004 kWh; x 0.1404 kg/kWh (Sichuan 2022) = 0.0005616 kg
    assert m.result.energy_kwh == pytest.approx(0.004, rel=1e-12)
    assert m.result.emissions_kg == pytest.approx(0.0005616, rel=1e-12)
    monkeypatch.setenv("COREDUCE_FOOTPRINT", "off")
    meter = fp.FootprintMeter()
    meter.start()
    assert meter.stop() is None
    monkeypatch.setenv("COREDUCE_FOOTPRINT", "bogus")
    with pytest.raises(ValueError, match="COREDUCE_FOOTPRINT"):
        fp.footprint_mode()


def test_net_benefit_is_claimed_minus_footprint() -> None:
    nb = fp.net_benefit(0.5, 250.0)  # 250 kg = 0.25 t; net 0.5 - 0.25 = 0.25 t
    assert (nb.compute_t, nb.net_t, nb.negative) == (0.25, 0.25, False)
    nb = fp.net_benefit(0.01, 2.0, amortised_training_kg=120.0, n_uses=10)
    # compute = (2 kg + 120 kg / 10) = 14 kg = 0.014 t; net = 0.01 - 0.014 = -0.004 t
    assert nb.training_t == pytest.approx(0.012, rel=1e-12) and nb.compute_t == pytest.approx(0.014, rel=1e-12)
    assert nb.net_t == nb.claimed_t - nb.compute_t
    assert nb.net_t == pytest.approx(-0.004, rel=1e-12) and nb.negative
    with pytest.raises(ValueError, match="n_uses"):
        fp.net_benefit(1.0, 1.0, 1.0, n_uses=0)


def test_fallback_constants_match_codecarbon_source() -> None:
    cpu = pytest.importorskip("codecarbon.core.cpu")
    ram = pytest.importorskip("codecarbon.external.ram")
    assert cpu.DEFAULT_POWER_PER_CORE == fp.CPU_POWER_PER_THREAD_W
    assert "3 watts of power for every 8GB" in inspect.getsource(ram)
    assert fp.RAM_POWER_W_PER_GB == 3 / 8


def test_codecarbon_shared_tracker() -> None:
    pytest.importorskip("codecarbon")
    meter = fp.FootprintMeter("Hebei", mode="codecarbon")
    meter.start()
    sum(i * i for i in range(300_000))
    f = meter.stop()
    if fp.tracker_error() is not None:
        pytest.skip(f"CodeCarbon unavailable here: {fp.tracker_error()}")
    assert f.method == "codecarbon" and f.energy_kwh > 0
    assert f.emissions_kg == pytest.approx(f.energy_kwh * 0.7252, rel=1e-12)
    assert fp.shared_tracker() is fp.shared_tracker()  # one tracker per process
