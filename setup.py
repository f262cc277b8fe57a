"""Build the optional C stage probe; pipebench falls back to pure Python without it."""

import sys

from setuptools import Extension, setup

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

setup(ext_modules=ext_modules)
