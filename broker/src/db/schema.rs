//! Diesel table definitions, the same for both backends (see `migrations/`).
#![allow(missing_docs)]

diesel::table! {
    instances (id) {
        id -> Text,
        service_id -> Text,
        plan_id -> Text,
        parameters -> Text,
        context -> Text,
        organization_guid -> Text,
        space_guid -> Text,
        maintenance_version -> Nullable<Text>,
        dashboard_url -> Nullable<Text>,
        state -> Text,
        active_operation_id -> Nullable<Text>,
        last_operation_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    bindings (id) {
        id -> Text,
        instance_id -> Text,
        service_id -> Text,
        plan_id -> Text,
        parameters -> Text,
        context -> Text,
        bind_resource -> Text,
        credentials -> Nullable<Binary>,
        state -> Text,
        active_operation_id -> Nullable<Text>,
        last_operation_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    operations (id) {
        id -> Text,
        kind -> Text,
        instance_id -> Text,
        binding_id -> Nullable<Text>,
        state -> Text,
        description -> Nullable<Text>,
        request -> Text,
        poll_token -> Nullable<Text>,
        attempts -> Integer,
        due_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> BigInt,
        request_id -> Nullable<Text>,
        actor -> Nullable<Text>,
        action -> Text,
        target -> Text,
        detail -> Text,
    }
}

diesel::joinable!(bindings -> instances (instance_id));
diesel::allow_tables_to_appear_in_same_query!(instances, bindings, operations, audit_log);

diesel::table! {
    apps (id) {
        id -> Text,
        name -> Text,
        owner -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        team_id -> Nullable<Text>,
    }
}

diesel::table! {
    releases (id) {
        id -> Text,
        app_id -> Text,
        version -> Integer,
        description -> Text,
        config -> Binary,
        addon_plan_names -> Text,
        status -> Text,
        created_by -> Nullable<Text>,
        created_at -> BigInt,
        slug_id -> Nullable<Text>,
    }
}

diesel::table! {
    addons (id) {
        id -> Text,
        name -> Text,
        app_id -> Text,
        service -> Text,
        plan -> Text,
        config -> Text,
        state -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    addon_attachments (id) {
        id -> Text,
        addon_id -> Text,
        app_id -> Text,
        name -> Text,
        state -> Text,
        vars -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    slugs (id) {
        id -> Text,
        app_id -> Text,
        process_types -> Text,
        size -> BigInt,
        checksum -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    builds (id) {
        id -> Text,
        app_id -> Text,
        status -> Text,
        slug_id -> Nullable<Text>,
        release_version -> Nullable<Integer>,
        output -> Text,
        created_by -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        runner -> Nullable<Text>,
    }
}

diesel::table! {
    formations (id) {
        id -> Text,
        app_id -> Text,
        process_type -> Text,
        quantity -> Integer,
        size -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(apps, releases, addons, addon_attachments, slugs, builds, formations);

diesel::table! {
    marketplace_providers (id) {
        id -> Text,
        kind -> Text,
        name -> Text,
        state -> Text,
        spec -> Binary,
        catalog -> Nullable<Text>,
        registered_by -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    instance_configs (instance_id) {
        instance_id -> Text,
        config -> Binary,
        updated_at -> BigInt,
    }
}

diesel::table! {
    callback_nonces (provider_id, mac) {
        provider_id -> Text,
        mac -> Text,
        seen_at -> BigInt,
    }
}

// The admin API joins the OSB side (instances, operations) with the platform side (add-ons, apps).
diesel::allow_tables_to_appear_in_same_query!(instances, addons);
diesel::allow_tables_to_appear_in_same_query!(instances, apps);
diesel::allow_tables_to_appear_in_same_query!(operations, addons);
diesel::allow_tables_to_appear_in_same_query!(operations, apps);

diesel::table! {
    teams (id) {
        id -> Text,
        name -> Text,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    team_members (id) {
        id -> Text,
        team_id -> Text,
        person -> Text,
        role -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    collaborators (id) {
        id -> Text,
        app_id -> Text,
        person -> Text,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    tokens (id) {
        id -> Text,
        person -> Text,
        scope -> Text,
        description -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revoked_by -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(apps, teams, team_members, collaborators);

diesel::table! {
    buildpack_installations (app_id, ordinal) {
        app_id -> Text,
        ordinal -> Integer,
        url -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    domains (id) {
        id -> Text,
        app_id -> Text,
        hostname -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(domains -> apps (app_id));
diesel::allow_tables_to_appear_in_same_query!(apps, domains);

diesel::table! {
    supervisor_leases (runtime) {
        runtime -> Text,
        holder -> Text,
        url -> Text,
        expires_at -> BigInt,
        updated_at -> BigInt,
    }
}
