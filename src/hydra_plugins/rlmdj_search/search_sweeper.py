"""``hydra/sweeper=search``: an Optuna study whose trials run through the configured launcher.

Hydra finds this module through the ``hydra_plugins`` namespace package. The sweeper asks Optuna
for ``n_jobs`` trials at a time (ask/tell), launches each trial's replicas through
``hydra.launcher`` (basic, joblib, submitit, Ray: any launcher), tells Optuna the mean of what
the jobs return (OBJ), and ends with a paired sequential confirmation of the best trial against
the baseline on fresh replicas. The work is in :mod:`hydra_plugins.rlmdj_search._core`; settings
and the search space in :mod:`rlmdj.experiments.sweep.search`; the Optuna side in
:mod:`rlmdj.search`. Usage and keys: docs/experiments.md, "Search".
"""

# No ``from __future__ import annotations``: Hydra executes plugin modules without registering
# them in ``sys.modules``, and dataclasses cannot resolve string annotations there.
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from rlmdj.experiments.sweep.search import SEARCH_TARGET, SearchSettings

__all__ = ["SearchSweeper", "SearchSweeperConf"]


@dataclass
class SearchSweeperConf(SearchSettings):
    """The sweeper's config node: :class:`SearchSettings` plus Hydra's target and the space."""

    _target_: str = SEARCH_TARGET
    params: Any = None  # the search space: {key: "choice(a,b)" | "interval(0,1)" | "range(1,9)"}


ConfigStore.instance().store(group="hydra/sweeper", name="search", node=SearchSweeperConf, provider="rlmdj")


class SearchSweeper(Sweeper):
    """Optimises the searched settings (see the module docstring)."""

    def __init__(self, params: Any = None, **settings: Any) -> None:
        super().__init__()
        self.settings = SearchSettings(**settings)
        self.params = dict(params or {})
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        from hydra_plugins.rlmdj_search._core import FailSoftTask

        self.hydra_context = hydra_context
        self.config = config
        # A trial's job that exits (a user error found inside it) fails that trial, not the study.
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=FailSoftTask(task_function), config=config)

    def sweep(self, arguments: list[str]) -> Any:
        from hydra_plugins.rlmdj_search._core import SearchRun

        assert self.config is not None and self.hydra_context is not None
        return SearchRun(self.settings, self.params, self.config, self.launcher, self.hydra_context,
                         self.validate_batch_is_legal).run(list(arguments))
