"""Named inputs and outputs, regression and mask targets, seeded transforms."""

import os

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import kdataset as kd
from tests.conftest import row_of, write_samples


def _clinical(tmp_path, n=20):
    """A scan (.npy, values = row) with age, sex, a diagnosis and a score per row."""
    manifest = write_samples(tmp_path, n, shape=(4, 4, 1))
    frame = pd.read_csv(manifest, dtype=str)
    frame["age"] = [str(30 + i) for i in range(n)]
    frame["sex"] = [str(i % 2) for i in range(n)]
    frame["score"] = [f"{i / 10:.1f}" for i in range(n)]
    frame["dose"] = [str(2 * i) for i in range(n)]
    frame.to_csv(manifest, index=False)
    return manifest


def _two_heads(manifest, **kwargs):
    return kd.ManifestDataset(
        manifest,
        batch_size=8,
        inputs={"scan": kd.Files("path"), "clinical": kd.Numbers(["age", "sex"])},
        outputs={"diagnosis": kd.Labels("label", mode="int"), "score": kd.Numbers("score")},
        **kwargs,
    )


def test_named_inputs_and_outputs_hold_each_rows_values(tmp_path):
    ds = _two_heads(_clinical(tmp_path), shuffle=False)
    x, y = ds[0]
    assert set(x) == {"scan", "clinical"} and set(y) == {"diagnosis", "score"}
    rows = row_of(x["scan"])
    assert rows == list(range(8))
    assert x["clinical"].dtype == np.float32 and x["clinical"].shape == (8, 2)
    assert x["clinical"][:, 0].tolist() == [30 + r for r in rows]
    assert y["score"].shape == (8, 1) and y["score"].dtype == np.float32
    np.testing.assert_allclose(y["score"][:, 0], [r / 10 for r in rows], rtol=1e-6)
    assert y["diagnosis"].tolist() == [r % 3 for r in rows]
    assert ds.label_encoders["diagnosis"].classes == ["a", "b", "c"]
    assert "inputs 'scan', 'clinical'" in repr(ds)


def test_a_functional_model_with_two_inputs_and_two_outputs_fits(tmp_path):
    ds = _two_heads(_clinical(tmp_path, n=24), seed=1, pad_remainder=True)
    scan = keras.Input((4, 4, 1), name="scan")
    clinical = keras.Input((2,), name="clinical")
    hidden = keras.layers.Concatenate()([keras.layers.Flatten()(scan), clinical])
    hidden = keras.layers.Dense(8, activation="relu")(hidden)
    model = keras.Model(
        [scan, clinical],
        {
            "diagnosis": keras.layers.Dense(3, name="diagnosis")(hidden),
            "score": keras.layers.Dense(1, name="score")(hidden),
        },
    )
    model.compile(
        optimizer="adam",
        loss={
            "diagnosis": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "score": "mse",
        },
    )
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    predictions = model.predict(
        kd.ManifestDataset(
            ds.manifest.source,
            batch_size=8,
            inputs={"scan": kd.Files("path"), "clinical": kd.Numbers(["age", "sex"])},
            outputs=None,
            label_mode=None,
        ),
        verbose=0,
    )
    assert predictions["score"].shape == (24, 1)


def test_a_cell_that_is_not_a_number_is_named_before_training(tmp_path):
    manifest = _clinical(tmp_path)
    frame = pd.read_csv(manifest, dtype=str)
    frame.loc[3, "age"] = "thirty"
    frame.loc[5, "score"] = ""
    frame.to_csv(manifest, index=False)
    with pytest.raises(kd.ManifestError) as caught:
        _two_heads(manifest)
    text = str(caught.value)
    assert "line 5 of train.csv" in text and "'thirty'" in text and "age" in text
    assert "line 7 of train.csv" in text and "empty cell" in text and "score" in text
    assert len(caught.value.problems) == 2


def test_a_missing_column_of_an_input_is_named(tmp_path):
    with pytest.raises(kd.ManifestError, match=r"no column 'weight' \(`inputs\['clinical'\]`\)"):
        kd.ManifestDataset(
            _clinical(tmp_path),
            inputs={"scan": kd.Files("path"), "clinical": kd.Numbers(["age", "weight"])},
        )


def test_regression_targets_from_one_or_several_columns(tmp_path):
    manifest = _clinical(tmp_path)
    one = kd.ManifestDataset(manifest, outputs=kd.Numbers("score"), shuffle=False, batch_size=4)
    x, y = one[1]
    assert x.shape == (4, 4, 4, 1) and y.shape == (4, 1) and y.dtype == np.float32
    several = kd.ManifestDataset(
        manifest, outputs=kd.Numbers(["score", "dose"]), shuffle=False, batch_size=4
    )
    assert several[1][1].tolist() == [[pytest.approx(r / 10), 2 * r] for r in range(4, 8)]
    assert one.classes is None and one.label_mode is None


def test_class_tools_say_when_targets_have_no_classes(tmp_path):
    manifest = _clinical(tmp_path)
    ds = kd.ManifestDataset(manifest, outputs={"score": kd.Numbers("score")})
    with pytest.raises(ValueError, match="regression and mask targets have no classes"):
        ds.class_weight()
    with pytest.raises(ValueError, match="`sample_weight='balanced'` weighs samples by their"):
        kd.ManifestDataset(manifest, outputs=kd.Numbers("score"), sample_weight="balanced")
    with pytest.raises(ValueError, match=r"`sampling=.balanced.`.*no kd.Labels"):
        kd.ManifestDataset(manifest, outputs=kd.Numbers("score"), sampling="balanced")
    with pytest.raises(kd.ManifestError, match=r"holds numbers with fractions.*pandas.qcut"):
        kd.split_manifest(manifest, 0.25, stratify="score")
    with pytest.raises(ValueError, match="numbers with fractions"):
        kd.class_weights(pd.read_csv(manifest)["score"])
    # With one output of class labels among others, the class tools work on it.
    both = _two_heads(manifest, sampling="balanced", seed=0)
    assert set(both.class_weight()) == {0, 1, 2}


def test_named_arguments_do_not_mix_with_the_single_input_ones(tmp_path):
    manifest = _clinical(tmp_path)
    with pytest.raises(ValueError, match="`inputs` names every input, so 'path_column'"):
        kd.ManifestDataset(manifest, inputs=kd.Files("path"), path_column="path")
    with pytest.raises(ValueError, match="`outputs` names every target, so 'label_mode'"):
        kd.ManifestDataset(manifest, outputs=kd.Numbers("score"), label_mode="int")
    with pytest.raises(ValueError, match=r"Invalid `inputs\['scan'\]`: expected kd.Files"):
        kd.ManifestDataset(manifest, inputs={"scan": "path"})
    with pytest.raises(ValueError, match="exactly one"):
        kd.Files()


def test_resuming_a_dataset_with_named_outputs(tmp_path):
    manifest = _clinical(tmp_path)
    ds = _two_heads(manifest, seed=3)
    first = [row_of(x["scan"]) for x, _ in [ds[0], ds[1]]]
    state = ds.state_at(0, 1)
    again = _two_heads(manifest, seed=3)
    again.set_state(state)
    assert row_of(again.rest_of_epoch()[0][0]["scan"]) == first[1]
    frame = pd.read_csv(manifest, dtype=str)
    frame.loc[0, "score"] = "9.5"  # another target: the state is of another dataset
    frame.to_csv(manifest, index=False)
    with pytest.raises(ValueError, match=r"another dataset|changed"):
        _two_heads(manifest, seed=3).set_state(state)


# -- masks ---------------------------------------------------------------------------


def _segmentation(tmp_path, n=6, size=(12, 16)):
    """RGB images and palette-PNG masks: class 2 on the left third, 1 elsewhere, 0 at the top."""
    rows = []
    os.makedirs(tmp_path / "images")
    os.makedirs(tmp_path / "masks")
    for i in range(n):
        image = np.zeros((*size, 3), np.uint8)
        image[..., 0] = np.arange(size[1]) * 10  # a gradient left to right
        image[..., 1] = i
        Image.fromarray(image).save(tmp_path / "images" / f"{i}.png")
        mask = np.ones(size, np.uint8)
        mask[:, : size[1] // 3] = 2
        mask[:2] = 0
        palette = Image.fromarray(mask, mode="P")
        palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
        palette.save(tmp_path / "masks" / f"{i}.png")
        rows.append({"id": str(i), "image": f"images/{i}.png", "mask": f"masks/{i}.png"})
    manifest = tmp_path / "seg.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def test_masks_are_resized_to_nearest_classes(tmp_path):
    ds = kd.ManifestDataset(
        _segmentation(tmp_path),
        batch_size=3,
        inputs=kd.Files("image", loader=kd.ImageLoader((9, 8))),
        outputs=kd.Files("mask", loader=kd.MaskLoader((9, 8))),
        shuffle=False,
    )
    x, y = ds[0]
    assert x.shape == (3, 9, 8, 3) and y.shape == (3, 9, 8, 1)
    assert set(np.unique(y).tolist()) == {0.0, 1.0, 2.0}  # palette indices, never blended
    assert (y[:, 0] == 0).all() and (y[:, -1, 0] == 2).all() and (y[:, -1, -1] == 1).all()


def test_a_mask_in_colours_is_refused_naming_the_file(tmp_path):
    manifest = _segmentation(tmp_path, n=2)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (12, 16, 3), np.uint8)).save(
        tmp_path / "masks" / "0.png"
    )
    with pytest.raises(kd.SampleError, match=r"not a readable mask \(a RGB mask with colours"):
        kd.ManifestDataset(
            manifest,
            inputs=kd.Files("image", loader=kd.ImageLoader((9, 8))),
            outputs=kd.Files("mask", loader=kd.MaskLoader((9, 8))),
        )


def _flip(sample, rng):
    """Flips an image and its mask together, left to right, half the time."""
    if rng.random() < 0.5:
        return {key: value[:, ::-1] for key, value in sample.items()}
    return sample


def test_one_transform_flips_an_image_and_its_mask_together(tmp_path):
    ds = kd.ManifestDataset(
        _segmentation(tmp_path, n=12),
        batch_size=12,
        inputs=kd.Files("image", loader=kd.ImageLoader()),
        outputs=kd.Files("mask", loader=kd.MaskLoader()),
        transform=_flip,
        seed=0,
    )
    flips = []
    for _ in range(3):
        x, y = ds[0]
        flipped = x[:, 0, 0, 0] > x[:, 0, -1, 0]  # the gradient runs right to left
        assert ((y[:, 5, 0, 0] == 2) == ~flipped).all()  # the mask's class 2 moved with it
        flips.append(flipped.tolist())
        ds.on_epoch_end()
    assert 0 < sum(flips[0]) < 12 and flips[0] != flips[1]  # new draws each epoch


def _jitter(sample, rng):
    return {"x": sample["x"] + rng.normal(size=sample["x"].shape).astype("float32")}


@pytest.mark.parametrize("workers", [1, 3])
def test_transforms_are_a_function_of_seed_epoch_and_position(samples, workers):
    manifest = samples(30, shape=(5,))
    runs = []
    for batch_size, workers_ in ((4, 1), (7, workers)):
        ds = kd.ManifestDataset(
            manifest, batch_size=batch_size, transform=_jitter, seed=5, workers=workers_
        )
        epochs = []
        for _ in range(2):
            epochs.append(np.concatenate([x for x, _ in ds]))
        runs.append(epochs)
    # The same seed: the same noise on every sample, whatever the batch size or workers.
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.allclose(runs[0][0], runs[0][1])  # another epoch, other draws


def test_a_batch_transform_gets_every_array_by_name_and_its_own_generator(tmp_path):
    seen = []

    def mix(batch, rng):
        seen.append((sorted(batch), float(rng.random())))
        return {"clinical": batch["clinical"] * 0}

    ds = _two_heads(_clinical(tmp_path), batch_transform=mix, seed=2)
    x, _ = ds[1]
    assert (x["clinical"] == 0).all()
    assert seen[0][0] == ["clinical", "diagnosis", "scan", "score"]
    ds[1]
    assert seen[1][1] == seen[0][1]


def test_a_transform_that_fails_names_the_sample_and_can_be_skipped(samples):
    manifest = samples(10)

    def fragile(sample, rng):
        if sample["x"][0] == 3:
            raise ValueError("cannot jitter row 3")
        return sample

    ds = kd.ManifestDataset(manifest, batch_size=5, transform=fragile, shuffle=False)
    with pytest.raises(kd.SampleError, match=r"line 5 of train.csv.*the transform failed"):
        ds[0]
    skipping = kd.ManifestDataset(
        manifest, batch_size=5, transform=fragile, shuffle=False, on_error="skip"
    )
    x, _ = skipping[0]
    assert row_of(x) == [0, 1, 2, 4]

    def wrong(sample, rng):
        return {"image": sample["x"]}

    with pytest.raises(kd.SampleError, match=r"returned 'image', which it was not given"):
        kd.ManifestDataset(manifest, batch_size=5, transform=wrong)[0]


def _albumentations():
    """The example's adapter: an Albumentations pipeline as a kdataset transform."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "segmentation.py")
    spec = importlib.util.spec_from_file_location("segmentation_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Albumentations


@pytest.mark.parametrize("workers", [1, 3])
def test_albumentations_moves_image_and_mask_together_the_same_for_any_workers(tmp_path, workers):
    import albumentations as A

    adapter = _albumentations()
    pipeline = A.Compose([A.HorizontalFlip(p=0.5), A.RandomRotate90(p=1.0)])
    manifest = _segmentation(tmp_path, n=16, size=(12, 12))

    def epochs(workers):
        ds = kd.ManifestDataset(
            manifest,
            batch_size=5,
            inputs=kd.Files("image", loader=kd.ImageLoader()),
            outputs=kd.Files("mask", loader=kd.MaskLoader()),
            transform=adapter(pipeline),
            seed=4,
            workers=workers,
        )
        return [[(x.copy(), y.copy()) for x, y in ds] for _ in range(2)]

    one, many = epochs(1), epochs(workers)
    for (x1, y1), (x2, y2) in zip(one[0] + one[1], many[0] + many[1]):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    # The mask went where its image went: class 2 lies under the image's darkest column
    # (the gradient starts at 0 where the mask's class-2 third is), in every sample.
    x, y = np.concatenate([b[0] for b in one[0]]), np.concatenate([b[1] for b in one[0]])
    for image, mask in zip(x, y):
        dark = image[..., 0] == 0
        assert (mask[..., 0][dark & (mask[..., 0] != 0)] == 2).all()
    assert not all(
        np.array_equal(a[0], b[0]) for a, b in zip(one[0], one[1])
    )  # another epoch, other draws


def test_deep_validation_loads_every_input_and_output_read_from_files(tmp_path):
    manifest = _segmentation(tmp_path, n=6)
    (tmp_path / "masks" / "4.png").write_bytes(b"not a png")
    (tmp_path / "images" / "2.png").write_bytes(b"not a png either")
    problems = kd.validate_manifest(
        manifest,
        inputs=kd.Files("image", loader=kd.ImageLoader((9, 8))),
        outputs=kd.Files("mask", loader=kd.MaskLoader((9, 8))),
        deep=True,
    )
    assert [(p.line, os.path.basename(p.path)) for p in problems] == [
        ("line 4 of seg.csv", "2.png"),
        ("line 6 of seg.csv", "4.png"),
    ]
    assert "not a readable mask" in problems[1].message


def test_a_transform_needs_arrays_read_from_files(tmp_path):
    with pytest.raises(ValueError, match="use `batch_transform`"):
        kd.ManifestDataset(
            _clinical(tmp_path),
            inputs=kd.Numbers(["age"]),
            outputs=kd.Numbers("score"),
            transform=_jitter,
        )


def test_a_transform_of_uint8_images_may_return_them_as_uint8_or_as_floats(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    for i in range(6):
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "img" / f"{i}.png")
    (tmp_path / "m.csv").write_text(
        "id,label\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(6))
    )
    common = dict(
        batch_size=3,
        path_template="img/{id}.png",
        loader=kd.ImageLoader(dtype="uint8"),
        label_mode="int",
        shuffle=False,
    )
    plain = kd.ManifestDataset(tmp_path / "m.csv", **common)
    flipped = kd.ManifestDataset(
        tmp_path / "m.csv", transform=lambda s, rng: {"x": s["x"][:, ::-1]}, **common
    )
    scaled = kd.ManifestDataset(
        tmp_path / "m.csv", transform=lambda s, rng: {"x": s["x"] / 255}, **common
    )
    x, _ = plain[0]
    assert x.dtype == np.uint8
    assert flipped[0][0].dtype == np.uint8  # uint8 back: the batch stays uint8
    np.testing.assert_array_equal(flipped[0][0], x[:, :, ::-1])
    assert scaled[0][0].dtype == np.float32  # floats back: float32, never truncated
    np.testing.assert_allclose(scaled[0][0], x / 255, rtol=1e-6)
    wrapped = kd.ManifestDataset(
        tmp_path / "m.csv", transform=lambda s, rng: {"x": s["x"].astype(int) + 300}, **common
    )
    with pytest.raises(kd.SampleError, match=r"values from 30\d to \d+, outside uint8's 0..255"):
        wrapped[0]
