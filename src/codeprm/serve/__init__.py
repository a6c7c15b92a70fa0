"""``codeprm serve``: the sandbox and the PRM behind HTTP (SandboxFusion's /run_code, OpenRLHF's
/get_reward, /judge, /score_lines). FastAPI and uvicorn are the ``serve`` extra, imported only when an
app is built (``codeprm.serve.app.create_app``)."""
