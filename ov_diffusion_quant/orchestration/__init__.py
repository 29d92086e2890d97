"""What runs the layers below together: a variant's pipelines on a device (inference) and the recipe search."""
