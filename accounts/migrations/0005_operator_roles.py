"""The console's operator roles as Django groups: support, finance and admin.

Permissions are normally created after all migrations (post_migrate); they are created here first
so the groups can be filled on a fresh database too. Re-running is harmless (get_or_create, add)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

APPS = ("accounts", "gateway", "billing")
ROLES = {
    "support": ["gateway.change_apikey"],
    "finance": ["accounts.adjust_balance", "billing.add_redemptioncode", "billing.add_price"],
}


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perms(*names):
        found = []
        for name in names:
            app_label, codename = name.split(".")
            found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        return found

    views = list(Permission.objects.filter(content_type__app_label__in=APPS, codename__startswith="view_"))
    for name, extra in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*views, *perms(*extra))
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(*views, *Permission.objects.filter(content_type__app_label="gateway"))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["support", "finance", "admin"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_auditentry"),
        ("gateway", "0002_apikey_concurrency_limit_apikey_rpm_limit_and_more"),
        ("billing", "0003_ledger_append_only"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
