"""Writes tests/data/images: small real-photo images and what image_dataset_from_directory
makes of them (the reference pixels `tests/test_images.py` holds kdataset to).

Run under the TensorFlow backend, from the repository's root:

    KERAS_BACKEND=tensorflow python tests/make_image_fixtures.py

`tests/test_images.py` recomputes the references with TensorFlow wherever it is
installed and checks that they equal the stored ones, so they cannot go stale.
"""

import os

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_image

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "images")
# (file, size (width, height)): photo crops, odd sizes, every format IDFD reads.
FILES = [
    ("china.jpg", (40, 30)),
    ("flower.jpg", (23, 57)),
    ("china.png", (31, 17)),
    ("flower-rgba.png", (20, 20)),
    ("china.bmp", (18, 24)),
    ("flower.gif", (25, 15)),
]
# (name, image_size, color_mode, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio)
CONFIGS = [
    ("bilinear", (16, 16), "rgb", "bilinear", False, False),
    ("up", (61, 45), "rgb", "bilinear", False, False),
    ("nearest", (9, 13), "rgb", "nearest", False, False),
    ("crop", (16, 12), "rgb", "bilinear", True, False),
    ("pad", (16, 12), "rgb", "bilinear", False, True),
    ("gray", (16, 16), "grayscale", "bilinear", False, False),
    ("rgba", (16, 16), "rgba", "bilinear", False, False),
    ("area", (13, 11), "rgb", "area", False, False),
]


def write_images():
    os.makedirs(FOLDER, exist_ok=True)
    for name, size in FILES:
        photo = Image.fromarray(load_sample_image(name.split("-")[0].split(".")[0] + ".jpg"))
        image = photo.crop((100, 80, 100 + 8 * size[0], 80 + 8 * size[1])).resize(size)
        if "rgba" in name:
            image = image.convert("RGBA")
            image.putalpha(Image.linear_gradient("L").resize(size))
        path = os.path.join(FOLDER, name)
        if name.endswith(".jpg"):
            image.save(path, quality=90)
        else:
            image.save(path)


def references():
    """`{f"{config}/{file}": pixels}` as image_dataset_from_directory loads them."""
    import tensorflow as tf
    from keras.src.utils.image_dataset_utils import _load_image_tf

    channels = {"rgb": 3, "grayscale": 1, "rgba": 4}
    out = {}
    for config, size, mode, interpolation, crop, pad in CONFIGS:
        for name, _ in FILES:
            path = tf.constant(os.path.join(FOLDER, name))
            try:
                image = _load_image_tf(
                    path, size, channels[mode], interpolation, "channels_last", crop, pad
                )
            except tf.errors.InvalidArgumentError:
                continue  # IDFD cannot: a JPEG with 4 channels, a BMP with 1
            out[f"{config}/{name}"] = image.numpy()
    return out


if __name__ == "__main__":
    write_images()
    np.savez_compressed(os.path.join(FOLDER, "idfd.npz"), **references())
    print(f"written to {FOLDER}")
