def test_fixture(small_screen):
    print(small_screen)
