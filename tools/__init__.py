"""The course's own build tools, outside the installed package (as scikit-learn keeps build_tools/ beside sklearn/).

- executed: the executed copies of the lessons that the nbval run leaves in build/executed/ (plugged in by conftest.py)
- sitebuild: the course site from those copies (`python -m tools.sitebuild`, what `make site` runs)
"""
