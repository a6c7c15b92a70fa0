"""Adapters for the RL frameworks people already run: verl (``codeprm.integrations.verl``), TRL
(``codeprm.integrations.trl``), OpenRLHF (``codeprm serve``'s ``/get_reward``) and Ray
(``codeprm.integrations.ray``). Each is a thin wrapper over the sandbox, the program rule and
``codeprm.rl.rewards``; the frameworks are optional extras imported only by the module that needs them."""
