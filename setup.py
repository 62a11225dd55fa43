"""Distribution metadata for the core package, tornado-sessions."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="tornado-sessions",
    version="0.1.0",
    description="Server-side sessions for Tornado, in the spirit of express-session",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
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
    classifiers=[
        "Framework :: Tornado",
        "Programming Language :: Python :: 3",
        "Typing :: Typed",
    ],
)
