"""The runner: recipe -> sources -> stages -> outputs -> one version folder, as tasks on an executor."""
