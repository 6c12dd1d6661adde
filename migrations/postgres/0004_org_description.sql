-- An organization's description, shown on its page (plain text; NULL: none).
ALTER TABLE orgs ADD COLUMN description TEXT;
