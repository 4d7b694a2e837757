"""The contract suite: every registered method, post-hoc rule and dataset kind meets the same
checks, parametrised over the registries when pytest collects, so a new module is covered
without a test edit."""
