"""A small LSTM sequence model (PyTorch): several targets at once (PM2.5, NO2, CO, SO2), exogenous inputs,
all horizons 1…h from one forward pass (direct multi-output), CPU by default and the GPU when asked and present,
seeded and reproducible.

Inputs per (series, cutoff): the last ``input_size`` hours of every target (``log1p``, standardised), of the
exogenous columns (standardised) and the local hour as sin/cos, gaps carried forward. Output: ``log1p`` of each
target at cutoff + 1…h, trained with the absolute error (a median forecast, like the LightGBM model).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from coreduce.forecast.frames import Panel
from coreduce.forecast.models import Forecaster, grid, to_frame


class LSTMForecaster(Forecaster):
    """Multi-target LSTM, direct multi-horizon.

    Parameters
    ----------
    horizon : int
        Horizons 1…horizon forecast at once.
    targets : sequence of str
        Columns forecast together; the first is the frame's ``y`` (the scored target), the others are columns of
        the frame (e.g. ``NO2, CO, SO2``). Forecasts of the others come as ``y_hat:<name>`` columns.
    exog : sequence of str
        Exogenous input columns (observed up to the cutoff only).
    input_size, hidden, epochs, batch_size, lr : int, int, int, int, float
        Window length [h], LSTM width, training passes, minibatch, Adam learning rate.
    train_every : int
        Hours between training cutoffs.
    seed : int
        Seeds torch and NumPy; with ``torch.use_deterministic_algorithms`` the same seed gives the same weights.
    device : str
        ``"cpu"`` (default), ``"cuda"`` or ``"auto"`` (the GPU when torch sees one).
    threads : int
        CPU threads for torch.
    """

    def __init__(
        self,
        horizon: int = 24,
        targets: Sequence[str] = ("y",),
        exog: Sequence[str] = (),
        *,
        input_size: int = 72,
        hidden: int = 32,
        epochs: int = 5,
        batch_size: int = 256,
        lr: float = 3e-3,
        train_every: int = 6,
        utc_offset_h: float = 0.0,
        seed: int = 0,
        device: str = "cpu",
        threads: int = 2,
    ) -> None:
        self.horizon, self.targets, self.exog = int(horizon), ["y", *[t for t in targets if t != "y"]], list(exog)
        self.input_size, self.hidden, self.epochs, self.batch_size, self.lr = input_size, hidden, epochs, batch_size, lr
        self.train_every, self.utc_offset_h, self.seed, self.device, self.threads = (
            train_every, utc_offset_h, seed, device, threads)  # fmt: skip
        self.name = "lstm"
        self.net = None

    @property
    def version(self) -> str:  # type: ignore[override]
        import torch

        return (f"torch {torch.__version__} lstm h={self.horizon} in={self.input_size} hidden={self.hidden} "
                f"epochs={self.epochs} targets={','.join(self.targets)}")  # fmt: skip

    def _dev(self):
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _arrays(self, panel: Panel) -> np.ndarray:
        """(S, T, F) standardised inputs: targets (log1p), exogenous, hour sin/cos."""
        cols = []
        for c in self.targets:
            cols.append(np.log1p(np.maximum(panel.ffilled(c), 0)))
        for c in self.exog:
            cols.append(panel.ffilled(c))
        a = np.stack(cols, axis=-1)
        if not hasattr(self, "mu_"):
            self.mu_ = np.nanmean(a, axis=(0, 1))
            self.sd_ = np.nanstd(a, axis=(0, 1)) + 1e-6
        a = (a - self.mu_) / self.sd_
        hours = np.asarray((panel.time(np.arange(panel.n_times)) + pd.Timedelta(hours=self.utc_offset_h)).hour)
        cyc = np.stack([np.sin(2 * np.pi * hours / 24), np.cos(2 * np.pi * hours / 24)], axis=-1)
        a = np.concatenate([a, np.broadcast_to(cyc, (a.shape[0], *cyc.shape))], axis=-1)
        return np.nan_to_num(a)

    def _windows(self, a: np.ndarray, cpos: np.ndarray) -> np.ndarray:
        S = a.shape[0]
        idx = np.asarray(cpos)[:, None] + np.arange(-self.input_size + 1, 1)[None, :]  # (C, W)
        idx = np.clip(idx, 0, a.shape[1] - 1)
        return a[:, idx, :].reshape(S * len(cpos), self.input_size, a.shape[-1])

    def fit(self, df: pd.DataFrame) -> LSTMForecaster:
        import torch

        torch.manual_seed(self.seed)
        np.random.seed(self.seed)  # noqa: NPY002 - legacy global seeded for any NumPy use inside torch
        was_deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(self.threads)
        try:
            return self._fit(df)
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
            torch.set_num_threads(threads)

    def _fit(self, df: pd.DataFrame) -> LSTMForecaster:
        import torch
        from torch import nn

        for k in ("mu_", "sd_"):
            if hasattr(self, k):
                delattr(self, k)
        panel = Panel.from_frame(df, list(dict.fromkeys([*self.targets, *self.exog])))
        a = self._arrays(panel)
        last = panel.n_times - 1 - self.horizon
        cpos = np.arange(last, self.input_size, -self.train_every)[::-1]
        X = self._windows(a, cpos)
        s, _, t = grid(panel, cpos, self.horizon)
        ys = []
        for j, col in enumerate(self.targets):
            v = panel.take(np.log1p(np.maximum(panel.values[col], 0)), s, t)  # (S, C, H), truth with gaps
            ys.append((v - self.mu_[j]) / self.sd_[j])
        Y = np.stack(ys, axis=-1).reshape(len(X), self.horizon * len(self.targets))
        dev = self._dev()
        self.net = _Net(X.shape[-1], self.hidden, self.horizon * len(self.targets)).to(dev)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        Xt = torch.tensor(X, dtype=torch.float32)
        Yt = torch.tensor(Y, dtype=torch.float32)
        gen = torch.Generator().manual_seed(self.seed)
        self.losses_ = []
        for _ in range(self.epochs):
            perm = torch.randperm(len(Xt), generator=gen)
            tot = 0.0
            for i in range(0, len(Xt), self.batch_size):
                b = perm[i : i + self.batch_size]
                xb, yb = Xt[b].to(dev), Yt[b].to(dev)
                pred = self.net(xb)
                mask = ~torch.isnan(yb)
                loss = nn.functional.l1_loss(pred[mask], yb[mask])
                opt.zero_grad()
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * len(b)
            self.losses_.append(tot / len(Xt))
        return self

    def predict(self, df: pd.DataFrame, h: int, cutoffs: Sequence[pd.Timestamp] | None = None) -> pd.DataFrame:
        import torch

        if self.net is None:
            raise RuntimeError("LSTMForecaster.predict before fit")
        if h > self.horizon:
            raise ValueError(f"trained for horizons up to {self.horizon}, asked {h}")
        panel = Panel.from_frame(df, list(dict.fromkeys([*self.targets, *self.exog])))
        cpos = panel.pos(cutoffs if cutoffs is not None else [df["ds"].max()])
        X = self._windows(self._arrays(panel), cpos)
        self.net.eval()
        with torch.no_grad():
            out = self.net(torch.tensor(X, dtype=torch.float32).to(self._dev())).cpu().numpy()
        self.net.train()
        S, C = len(panel.ids), len(cpos)
        out = out.reshape(S, C, self.horizon, len(self.targets))[:, :, :h, :]
        cols = {}
        for j, col in enumerate(self.targets):
            v = np.expm1(out[..., j] * self.sd_[j] + self.mu_[j])
            cols["y_hat" if col == "y" else f"y_hat:{col}"] = v
        return to_frame(panel, cpos, h, cols)


def _Net(n_in: int, hidden: int, n_out: int):
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(n_in, hidden, batch_first=True)
            self.head = nn.Linear(hidden, n_out)

        def forward(self, x):
            _, (hn, _) = self.lstm(x)
            return self.head(hn[-1])

    return Net()
