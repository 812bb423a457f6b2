# Every account joins a customer group; existing accounts join the default one (billing 0013 made it).

import django.db.models.deletion
from django.db import migrations, models

import billing.group_default


def join_default(apps, schema_editor):
    group, _ = apps.get_model("billing", "CustomerGroup").objects.get_or_create(
        slug="default", defaults={"name": "Default"}
    )
    apps.get_model("accounts", "Account").objects.filter(group__isnull=True).update(group=group)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0011_default_projects'),
        ('billing', '0014_customer_groups'),
    ]

    operations = [
        migrations.AddField(
            model_name='account',
            name='group',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='accounts', to='billing.customergroup'),
        ),
        migrations.RunPython(join_default, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='account',
            name='group',
            field=models.ForeignKey(default=billing.group_default.default_group_id, on_delete=django.db.models.deletion.PROTECT, related_name='accounts', to='billing.customergroup'),
        ),
    ]
