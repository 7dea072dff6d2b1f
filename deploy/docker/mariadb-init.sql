-- Run once by the official mariadb image's entrypoint, on an empty data
-- folder, after it made MARIADB_DATABASE (beaver) and MARIADB_USER (beaver).
-- As on the native stack (deploy/infra-up), the user also gets every database
-- whose name starts with the live one's: `beaver-admin projections rebuild`
-- creates and drops `beaver__rebuild_<projection>` (docs/operations.md).
GRANT ALL PRIVILEGES ON `beaver%`.* TO 'beaver'@'%';
