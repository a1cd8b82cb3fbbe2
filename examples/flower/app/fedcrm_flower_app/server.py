"""ServerApp entry point: the fedcrm coordinator (reads the run config's federation file)."""

from fedcrm.federation.backends.flower import deployment_server_app

app = deployment_server_app()
