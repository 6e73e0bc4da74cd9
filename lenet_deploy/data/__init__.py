"""Datasets (``datasets``: embedded MNIST-5k, digits, MNIST IDX via ``idx``), readers that check
sizes before they allocate (``bounded``) and work in bounded chunks (``chunks``). Nothing is
downloaded."""
