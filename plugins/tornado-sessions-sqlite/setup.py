"""Distribution metadata for tornado-sessions-sqlite, the SQLite store plugin."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="tornado-sessions-sqlite",
    version="0.1.0",
    description="SQLite session store for tornado-sessions, on aiosqlite (one machine)",
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["tornado_sessions_sqlite", "tornado_sessions_sqlite.*"]),
    package_data={"tornado_sessions_sqlite": ["py.typed"]},
    install_requires=["tornado-sessions", "aiosqlite>=0.19"],
    extras_require={"test": ["pytest>=8", "pytest-tornado>=0.8"]},
    entry_points={"tornado_sessions": ["sqlite = tornado_sessions_sqlite.plugin"]},
    classifiers=[
        "Framework :: Tornado",
        "Programming Language :: Python :: 3",
        "Typing :: Typed",
    ],
)
