"""fedcrm's Flower App: the ServerApp (coordinator) and the ClientApp (one org)."""
