"""Built-in unlearning methods; each module registers its method with `@METHODS.register(name)`."""
