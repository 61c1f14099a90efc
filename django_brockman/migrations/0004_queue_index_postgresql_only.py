from django.db import migrations


class Migration(migrations.Migration):
    """brockman_queue_idx leaves the model state; the database keeps it.

    It is a partial index, which only PostgreSQL has; declared on the model, it made
    Django warn (models.W037) on every management command on MariaDB and MySQL.
    Migration 0002 still builds it on PostgreSQL, the only database where it serves the
    claim query, and nothing here touches the database: where it was built, it stays.
    """

    dependencies = [
        ("django_brockman", "0003_delivery_count"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="trigger", name="brockman_queue_idx"),
            ],
            database_operations=[],
        ),
    ]
