"""Two-way FE with stepwise controls: equals pyfixest, PanelOLS and AbsorbingLS after the df conventions.

Degrees-of-freedom conventions (shared/reference/econometrics.md §5), n = N*T observations, G = N clusters:
- pyfixest / fixest / reghdfe CRV1: G/(G-1) * (n-1)/(n-K), K = slopes + 13 year levels (the city FE are nested in
  the city cluster and not counted; the year FE cost T levels because the constant goes with the nested city FE);
- linearmodels PanelOLS (two-way, clustered): n/(n - k - (N + T - 1)), every absorbed effect counted, no G/(G-1);
- linearmodels AbsorbingLS (clustered): no small-sample factor at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coreduce.errors import InputError
from coreduce.evaluate.fe import twfe
from coreduce.evaluate.tables import regression_table, stars

pf = pytest.importorskip("pyfixest")
lm = pytest.importorskip("linearmodels")


@pytest.fixture(scope="module")
def models(city_panel):
    return twfe(city_panel, "cei", "ai", ["c1", "c2", "c3"], entity="city", time="year")


def test_stepwise_columns_equal_pyfixest(city_panel, models):
    assert [m.name for m in models] == ["(1)", "(2)", "(3)", "(4)"]
    assert [m.controls for m in models] == [[], ["c1"], ["c1", "c2"], ["c1", "c2", "c3"]]
    for k, m in enumerate(models):
        rhs = " + ".join(["ai", *["c1", "c2", "c3"][:k]])
        ref = pf.feols(f"cei ~ {rhs} | city + year", city_panel, vcov={"CRV1": "city"})
        np.testing.assert_allclose(m.coef.to_numpy(), ref.coef().to_numpy(), rtol=1e-10)
        np.testing.assert_allclose(m.se.to_numpy(), ref.se().to_numpy(), rtol=1e-10)
        assert m.nobs == 284 * 13


def test_equals_linearmodels_after_df_conventions(city_panel, models):
    from linearmodels.iv import AbsorbingLS
    from linearmodels.panel import PanelOLS

    full = models[-1]
    xs = ["ai", "c1", "c2", "c3"]
    pdf = city_panel.set_index(["city", "year"])
    po = PanelOLS(pdf["cei"], pdf[xs], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True
    )
    cats = pd.DataFrame({"city": pd.Categorical(city_panel.city), "year": pd.Categorical(city_panel.year)})
    ab = AbsorbingLS(city_panel.cei, city_panel[xs], absorb=cats).fit(cov_type="clustered", clusters=city_panel.city)
    np.testing.assert_allclose(full.coef[xs].to_numpy(), po.params[xs].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(full.coef[xs].to_numpy(), ab.params[xs].to_numpy(), rtol=1e-8)
    n, g, t, k = 284 * 13, 284, 13, 4
    f_pf = np.sqrt(g / (g - 1) * (n - 1) / (n - (k + t)))  # K = 4 slopes + 13 year levels = 17
    f_po = np.sqrt(n / (n - k - (g + t - 1)))  # 296 absorbed effects counted
    np.testing.assert_allclose(full.se[xs].to_numpy(), ab.std_errors[xs].to_numpy() * f_pf, rtol=1e-8)
    np.testing.assert_allclose(full.se[xs].to_numpy(), po.std_errors[xs].to_numpy() * f_pf / f_po, rtol=1e-8)
    # the headline difference: PanelOLS SEs are 3.92 % larger than reghdfe/pyfixest at T = 13
    assert f_po / f_pf == pytest.approx(1 / 0.9622909, rel=1e-7)


def test_publication_table(models):
    tab = regression_table(models, labels={"ai": "AI"}, fe_labels={"city": "City", "year": "Year"})
    body = tab.body
    m = models[3]
    assert body.loc["AI"].iloc[3] == f"{m.coef['ai']:.3f}{stars(m.pvalue['ai'])}"
    assert body.loc["AI"].iloc[3].endswith("***")  # -0.197 with SE 0.008
    se_rows = body[body.index == ""]
    assert se_rows.iloc[0, 3] == f"({m.se['ai']:.3f})"
    assert body.loc["c3"].tolist()[:3] == ["", "", ""]
    assert body.loc["City FE"].tolist() == ["Yes"] * 4
    assert body.loc["N"].tolist() == ["3,692"] * 4
    assert body.loc["R²"].iloc[0] == f"{models[0].r2:.3f}"
    md = tab.to_markdown()
    assert "| AI |" in md and "* p < 0.10" in md and "CRV1 clustered by city" in md
    tex = tab.to_latex()
    assert r"\toprule" in tex and "$^{***}$" in tex and "$R^2$" in tex
    html = tab.to_html()
    assert html.count("<tr") == 2 + len(body) + 1  # two header rows, the body, the notes row
    csv = tab.to_csv().splitlines()
    assert csv[0] == "term,(1),(2),(3),(4)" and csv[1] == "Dependent variable,cei,cei,cei,cei"
    hidden = regression_table(models, show_controls=False)
    assert "c1" not in hidden.body.index and hidden.body.loc["Controls"].tolist() == ["No", "Yes", "Yes", "Yes"]


def test_stars_thresholds():
    assert [stars(p) for p in (0.009, 0.01, 0.049, 0.05, 0.099, 0.1, float("nan"))] == [
        "***",
        "**",
        "**",
        "*",
        "*",
        "",
        "",
    ]


def test_missing_column_is_one_error(city_panel):
    with pytest.raises(InputError, match="column named 'gdp'"):
        twfe(city_panel, "cei", "ai", ["gdp"], entity="city", time="year")
