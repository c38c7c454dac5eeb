DROP TABLE tokens;
DROP TABLE collaborators;
DROP TABLE team_members;
DROP TABLE teams;
DROP INDEX apps_team;
DROP INDEX apps_owner;
ALTER TABLE apps DROP COLUMN team_id;
