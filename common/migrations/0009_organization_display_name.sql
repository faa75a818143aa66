-- The name the hosted checkout page shows its customers (issue 14), set by the operator with
-- caisse-admin set-display-name. NULL: the page shows the organization's name. Bounded like
-- the name, and never blank (clearing it sets NULL, not ''). A nullable column without a
-- default: adding it rewrites no row, and releases before this one ignore it.
ALTER TABLE organizations
    ADD COLUMN display_name text
        CHECK (length(display_name) BETWEEN 1 AND 200);
