{ python3Packages }: python3Packages.tomlkit
