"""Keras 3 on JAX: Epoch k/N lines and the progbar redrawn with backspaces and \r."""
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras
import numpy as np

rng = np.random.default_rng(0)
x, y = rng.normal(size=(3200, 16)).astype("float32"), rng.normal(size=(3200, 1)).astype("float32")
model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
model.fit(x, y, epochs=4, batch_size=32, validation_split=0.1)
