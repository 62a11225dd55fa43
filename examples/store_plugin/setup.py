"""Distribution metadata for tornado-sessions-filestore, the example store plugin."""

from setuptools import find_packages, setup

setup(
    name="tornado-sessions-filestore",
    version="0.1.0",
    description="Example tornado-sessions store: one file per session in a directory",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["tornado_sessions_filestore"]),
    package_data={"tornado_sessions_filestore": ["py.typed"]},
    install_requires=["tornado-sessions"],
    extras_require={"test": ["pytest>=8"]},
    # The line that makes it a plugin: tornado-sessions loads this module at
    # startup and calls the hooks it implements.
    entry_points={"tornado_sessions": ["filestore = tornado_sessions_filestore.plugin"]},
)
