"""Map each top-level code folder to a subpackage of the one namespace `flexbench`."""

from setuptools import find_packages, setup

CODE_FOLDERS = ("core", "twin", "instruments", "signals", "lab")

packages: list[str] = []
package_dir: dict[str, str] = {}
for folder in CODE_FOLDERS:
    package_dir[f"flexbench.{folder}"] = folder
    packages.append(f"flexbench.{folder}")
    packages += [f"flexbench.{folder}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=package_dir)
