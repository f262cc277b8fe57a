"""Packages found here (pyproject.toml holds the rest), and the optional C stage probe;
pipebench falls back to its pure-Python probe without it (``pipebench --version`` says which)."""

import sys

from setuptools import Extension, find_packages, setup

ext_modules = []
if sys.platform != "win32":
    ext_modules.append(
        Extension(
            "workbench.engine._probe",
            sources=["workbench/engine/_probe.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    )

setup(
    packages=[*find_packages(include=["workbench", "workbench.*"]), "workbench.examples"],
    ext_modules=ext_modules,
)
