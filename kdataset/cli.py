"""The `kdataset` command line."""

from __future__ import annotations

import argparse
import sys

import kdataset


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kdataset",
        description="kdataset: CSV manifests as Keras 3 datasets. "
        "Commands for validating, describing and splitting manifests come in later releases.",
    )
    parser.add_argument("--version", action="version", version=f"kdataset {kdataset.__version__}")
    return parser


def main(argv=None):
    """Runs the command line; returns the exit code."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
