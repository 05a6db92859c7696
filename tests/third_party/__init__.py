"""Test code of other projects, vendored unchanged but for the lines their READMEs name."""
