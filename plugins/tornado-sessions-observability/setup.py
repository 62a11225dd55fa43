"""Distribution metadata for tornado-sessions-observability: metrics and traces."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="tornado-sessions-observability",
    version="0.1.0",
    description="Prometheus metrics and OpenTelemetry traces for tornado-sessions",
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(
        include=["tornado_sessions_observability", "tornado_sessions_observability.*"]
    ),
    package_data={"tornado_sessions_observability": ["py.typed"]},
    install_requires=["tornado-sessions"],
    extras_require={
        "prometheus": ["prometheus-client>=0.20"],
        "opentelemetry": ["opentelemetry-api>=1.25"],
        "test": [
            "pytest>=8",
            "pytest-tornado>=0.8",
            "prometheus-client>=0.20",
            "opentelemetry-api>=1.25",
            "opentelemetry-sdk>=1.25",
            "opentelemetry-instrumentation-tornado>=0.46b0",
        ],
    },
    classifiers=[
        "Framework :: Tornado",
        "Programming Language :: Python :: 3",
        "Typing :: Typed",
    ],
)
