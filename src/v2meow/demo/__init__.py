"""`make demo` (`python -m v2meow.demo`): a soundtrack for the example video with the shipped demo bundle.

The recipes that build the demo data and the bundle live outside the package, in the repository's
`recipes/` (`python -m recipes.bundle`, `make demo-bundle`).
"""
