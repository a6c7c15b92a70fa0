"""Adapters for the RL frameworks people already run: verl (``codeprm.integrations.verl``: reward
function, reward manager, the agent-loop manager that carries dense line rewards), TRL
(``codeprm.integrations.trl``), OpenRLHF (``codeprm serve``'s ``/get_reward``) and Ray
(``codeprm.integrations.ray``). Each is a thin wrapper over the sandbox, the program rule and
``codeprm.rl.rewards``; the frameworks are optional extras imported only by the module that needs them.
``codeprm export`` (``codeprm.integrations.export``) writes a benchmark as each trainer's dataset rows."""
