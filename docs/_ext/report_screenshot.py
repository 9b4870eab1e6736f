"""Makes docs/images/report-digits.png, the README's picture of `kdataset report`.

Writes the digits of examples/train_digit_images.py as PNG files, splits them 80/20
(stratified, seed 0), writes their report and takes a screenshot of its top in headless
Chromium (Debian's `chromium`, driven by playwright), quantized to 64 colours:

    KERAS_BACKEND=jax python docs/_ext/report_screenshot.py
"""

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUTPUT = os.path.join(ROOT, "docs", "images", "report-digits.png")


def main():
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    from PIL import Image
    from playwright.sync_api import sync_playwright
    from train_digit_images import write_digit_images

    import kdataset as kd

    with tempfile.TemporaryDirectory() as folder:
        manifest = write_digit_images(folder)
        splits = kd.split_manifest(manifest, val=0.2, stratify="label", seed=0)
        for name in ("train", "val"):
            splits[name].to_csv(os.path.join(folder, f"{name}.csv"), index=False)
        page_path = os.path.join(folder, "report.html")
        report = kd.write_report(
            [os.path.join(folder, "train.csv"), os.path.join(folder, "val.csv")],
            page_path,
            command="kdataset report train.csv val.csv -o report.html",
        )
        print(report.summary())
        shot = os.path.join(folder, "shot.png")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 1480})
            page.goto("file://" + page_path)
            page.evaluate(
                "async () => { for (const i of document.images) "
                "{ i.loading = 'eager'; await i.decode(); } }"
            )
            page.screenshot(path=shot)
            browser.close()
        with Image.open(shot) as image:
            image.convert("RGB").quantize(64, method=Image.Quantize.MEDIANCUT).save(
                OUTPUT, optimize=True
            )
    print(f"written {OUTPUT}")


if __name__ == "__main__":
    main()
