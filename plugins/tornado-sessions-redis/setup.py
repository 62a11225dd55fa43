"""Distribution metadata for tornado-sessions-redis, the Redis store plugin."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="tornado-sessions-redis",
    version="0.1.0",
    description="Redis and Redis Cluster session store for tornado-sessions",
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["tornado_sessions_redis", "tornado_sessions_redis.*"]),
    package_data={"tornado_sessions_redis": ["py.typed"]},
    # The redis-py releases the test suite (cluster failover included) passed on; widen
    # the range only after running it on another.  5.2.1 did not recover from a failover.
    # hiredis is the C reply parser and command encoder of the store's own client
    # (tornado_sessions_redis.multiplexed), and redis-py's parser whenever it is
    # installed; "redis[hiredis]" would ask for the same.  Wheels for CPython 3.11+.
    install_requires=["tornado-sessions", "redis>=8.1.0,<8.3", "hiredis>=3.2.0"],
    extras_require={
        # Kept so that `pip install tornado-sessions-redis[hiredis]` still works.
        "hiredis": ["redis[hiredis]>=8.1.0,<8.3"],
        "test": ["pytest>=8", "pytest-tornado>=0.8"],
    },
    entry_points={"tornado_sessions": ["redis = tornado_sessions_redis.plugin"]},
    classifiers=[
        "Framework :: Tornado",
        "Programming Language :: Python :: 3",
        "Typing :: Typed",
    ],
)
