"""ClientApp entry point: one org's participant (reads the SuperNode's --node-config)."""

from fedcrm.federation.backends.flower import deployment_client_app

app = deployment_client_app()
