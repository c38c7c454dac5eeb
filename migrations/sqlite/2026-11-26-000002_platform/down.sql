DROP TABLE addon_attachments;
DROP TABLE addons;
DROP TABLE releases;
DROP TABLE apps;
