"""Built-in tasks; each module registers its task with `@TASKS.register(name)`."""
