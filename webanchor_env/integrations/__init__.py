"""Adapters that run this environment inside RL frameworks people already use.

One module per framework, each importing its framework lazily (a missing package raises
an ``ImportError`` naming the extra that installs it):

* :mod:`webanchor_env.integrations.trl`: an ``environment_factory`` class for TRL's
  ``GRPOTrainer`` (the ``rollout_func`` adapter is :mod:`agents.train.trl_adapter`);
* :mod:`webanchor_env.integrations.openenv`: an OpenEnv ``Environment``, its server and client;
* :mod:`webanchor_env.integrations.verifiers`: ``load_environment`` for verifiers;
* :mod:`webanchor_env.integrations.verl`: a verl agent loop and tools.

All of them play episodes through :class:`webanchor_env.integrations.session.EpisodeSession`,
so every adapter searches, visits and scores exactly as the Gymnasium environment does,
over the one backend (index) its process shares.
"""
