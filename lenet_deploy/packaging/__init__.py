"""Deploy targets: Triton model repositories (``triton``), KServe manifests (``kserve``) and the
``package`` command that writes them."""
