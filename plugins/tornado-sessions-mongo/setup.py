"""Distribution metadata for tornado-sessions-mongo, the MongoDB store plugin."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent

setup(
    name="tornado-sessions-mongo",
    version="0.1.0",
    description="MongoDB session store for tornado-sessions (PyMongo asyncio; Motor accepted)",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["tornado_sessions_mongo", "tornado_sessions_mongo.*"]),
    package_data={"tornado_sessions_mongo": ["py.typed"]},
    install_requires=["tornado-sessions", "pymongo>=4.10"],
    extras_require={
        "motor": ["motor>=3.6"],
        "test": ["pytest>=8", "pytest-tornado>=0.8", "motor>=3.6"],
    },
    entry_points={"tornado_sessions": ["mongodb = tornado_sessions_mongo.plugin"]},
    classifiers=[
        "Framework :: Tornado",
        "Programming Language :: Python :: 3",
        "Topic :: Database",
        "Typing :: Typed",
    ],
)
