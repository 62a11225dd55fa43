"""Distribution metadata for tornado-sessions-postgres, the PostgreSQL store plugin."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="tornado-sessions-postgres",
    version="0.1.0",
    description="PostgreSQL session store for tornado-sessions, on asyncpg",
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["tornado_sessions_postgres", "tornado_sessions_postgres.*"]),
    package_data={"tornado_sessions_postgres": ["py.typed"]},
    install_requires=["tornado-sessions", "asyncpg>=0.29"],
    extras_require={"test": ["pytest>=8", "pytest-tornado>=0.8"]},
    entry_points={"tornado_sessions": ["postgres = tornado_sessions_postgres.plugin"]},
    classifiers=[
        "Framework :: Tornado",
        "Programming Language :: Python :: 3",
        "Typing :: Typed",
    ],
)
