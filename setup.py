"""Distribution metadata for the core package, tornado-sessions."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
# One version, in tornado_sessions/__init__.py; read here without importing the package.
VERSION = re.search(
    r'^__version__ = "([^"]+)"$',
    (HERE / "tornado_sessions" / "__init__.py").read_text(encoding="utf-8"),
    re.MULTILINE,
)
assert VERSION is not None, "tornado_sessions/__init__.py must set __version__"

setup(
    name="tornado-sessions",
    version=VERSION.group(1),
    description="Server-side sessions for Tornado, in the spirit of express-session",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["tornado_sessions", "tornado_sessions.*"]),
    package_data={"tornado_sessions": ["py.typed"]},
    install_requires=["tornado>=6.5.5", "msgpack>=1.0", "pluggy>=1.3"],
    extras_require={
        "encryption": ["cryptography>=42"],
        "test": ["pytest>=8", "pytest-tornado>=0.8", "hypothesis>=6"],
    },
    entry_points={"console_scripts": ["tornado-sessions = tornado_sessions.cli:main"]},
    classifiers=[
        "Framework :: Tornado",
        "Programming Language :: Python :: 3",
        "Typing :: Typed",
    ],
)
