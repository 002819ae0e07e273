"""Stimuli made by the plugin (nothing is downloaded).

- `features`: sparse mixtures of localised, oriented features. A generating dictionary of
  `features` unit-norm atoms over K inputs (Gabor-like: a Gaussian envelope at an evenly spaced
  centre times a cosine of random orientation and phase); each stimulus is
  x = sum_m c_m g_m + noise with c_m = 0 except, with probability `activity`, c_m ~ N(0, 1).
- `pink_noise`: natural-image-like patches: square patches of side sqrt(K) cut from images whose
  power spectrum falls as 1/f^2 (amplitude 1/f), made by FFT from white noise, centred and
  scaled to unit variance.
- `two_modalities`: the `features` model on each half of the inputs separately (modality A on
  inputs 0..K/2-1, B on the rest), with a fraction `shared` of the stimuli showing a feature in
  both halves at once (cross-modal structure).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["feature_dictionary", "feature_stimuli", "pink_noise_patches", "two_modality_stimuli"]


def feature_dictionary(n: int, K: int, seed: int) -> np.ndarray:
    """n localised, oriented unit-norm features over K inputs (rows)."""
    rng = np.random.default_rng(seed)
    x = np.arange(K)
    centres = (np.arange(n) + 0.5) * K / n
    width = max(1.0, K / n)
    freq = rng.uniform(0.15, 0.45, n)
    phase = rng.uniform(0, 2 * math.pi, n)
    F = np.exp(-((x[None, :] - centres[:, None]) ** 2) / (2 * width**2)) * np.cos(
        2 * math.pi * freq[:, None] * (x[None, :] - centres[:, None]) + phase[:, None]
    )
    return F / np.linalg.norm(F, axis=1, keepdims=True)


def feature_stimuli(F: np.ndarray, count: int, activity: float, noise: float, rng: np.random.Generator) -> np.ndarray:
    """count stimuli (rows) as sparse Gaussian mixtures of the features F."""
    n, K = F.shape
    C = rng.standard_normal((count, n)) * (rng.random((count, n)) < activity)
    return C @ F + noise * rng.standard_normal((count, K))


def pink_noise_patches(count: int, K: int, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """count patches of side sqrt(K) from 1/f (amplitude) noise images."""
    side = round(math.sqrt(K))
    if side * side != K:
        raise ValueError(f"pink_noise patches are square: K must be a square number, got {K}")
    f = np.fft.fftfreq(size)
    amp = 1.0 / np.maximum(np.hypot(f[:, None], f[None, :]), 1.0 / size)
    out = np.empty((count, K))
    done = 0
    while done < count:
        img = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((size, size))) * amp))
        for _ in range(min(16, count - done)):
            r, c = rng.integers(0, size - side, 2)
            out[done] = img[r : r + side, c : c + side].ravel()
            done += 1
    out -= out.mean(axis=1, keepdims=True)
    return out / out.std()


def two_modality_stimuli(
    F: np.ndarray, count: int, activity: float, shared: float, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """Features of F (over K/2 inputs) shown in modality A, B, or (with probability `shared`)
    the same feature in both at once."""
    half = F.shape[1]
    A = feature_stimuli(F, count, activity, 0.0, rng)
    B = feature_stimuli(F, count, activity, 0.0, rng)
    both = rng.random(count) < shared
    B[both] = A[both]
    return np.concatenate([A, B], axis=1) + noise * rng.standard_normal((count, 2 * half))
